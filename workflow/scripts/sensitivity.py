"""Snakemake script: the table of Arpit et al. 2017 Fig. 3 (``kind: gini``) or Fig. 4
(``kind: class_sensitivity``) from a prepared dataset."""

import torch

from memrepro import io
from memrepro.ar_sensitivity import class_matrix_table, gini_table
from memrepro.logs import to_log

TABLES = {"gini": gini_table, "class_sensitivity": class_matrix_table}

sm = snakemake  # noqa: F821 - injected by Snakemake
log = to_log(sm.log)
torch.set_num_threads(max(1, int(sm.threads)))
spec = sm.params.spec
if spec.get("kind") not in TABLES:
    raise ValueError(f"kind: {spec.get('kind')!r} is not allowed; allowed: {sorted(TABLES)}")
data = io.load_npz(sm.input.data)
table = TABLES[spec["kind"]](data["x_train"], data["y_train"], spec.get("settings") or {})
log.info("%s table: %d rows -> %s", spec["kind"], len(table), sm.output[0])
io.write_text(sm.output[0], table.to_csv(index=False))

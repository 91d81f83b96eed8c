"""When training labels count as fitted ("100% training accuracy", Arpit et al. 2017 Fig. 6):
J1 >= 1 - FIT_TOL. The engine's ``stop_when_fit`` and the figures' epochs-to-fit use it."""

FIT_TOL = 1e-9  # J1 = k / n: any n below 1e9 makes this the exact test k == n

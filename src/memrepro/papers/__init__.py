"""One folder per paper. Each folder's ``index`` module is its index (a ``memrepro.paper.Paper``
named ``PAPER``, torch-free); ``memrepro.catalog`` lists the folders. A paper imports the core
and never another paper; the core never imports a paper."""

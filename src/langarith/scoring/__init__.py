"""Numbers that choose and judge: the metrics, the λ searches on labeled dev data, and the label-free λ choosers."""

"""Evaluation measures (S, E, F, weighted F, MAE, HCE, mBA) as torchmetrics, and the folder evaluator."""

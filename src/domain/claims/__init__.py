"""Manual reimbursement of medical bills paid while the holder's card was blocked."""

"""Store footage with a known truth: shoppers whose faces come from a labelled folder, seen through a
camera model (`edgeemo simulate`), and the whole device chain scored against it (`--chain`)."""

"""The binary view-comparison network, its pretexts and SimCLR / CLSA / DisCo. Arrives later."""

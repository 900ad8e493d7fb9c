# SPDX-License-Identifier: GPL-2.0
"""scapy traffic generators of the lab (attacks, malformed packets, customer GRE); see traffic/gen.py."""

# SPDX-License-Identifier: GPL-2.0
"""The lab's library: topology, addressing, namespaces, BIRD, edged, traffic, scenarios."""

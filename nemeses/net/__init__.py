"""Network plumbing shared by the network fault families: iptables chains of the harness on nodes
(`nemeses.net.iptables`) and tc queueing disciplines (`nemeses.net.tc`). Owns no fault and no schedule."""

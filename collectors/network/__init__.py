"""Network collector (issue 4): packets from live capture or pcap/pcapng files to ECS events
(flows with Community ID, DNS, HTTP, TLS, ARP, ICMP) and derived detection events."""

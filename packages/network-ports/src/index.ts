/** Port networking: per-host TCP/UDP port reservation, exposed through Firewalld or nftables. */
export {};

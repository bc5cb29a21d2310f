/** Driver contracts: the lifecycle of workloads and networks. */
export {};

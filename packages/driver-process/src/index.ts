/** Bare-process workload driver. */
export {};

/** The Khutulun agent: API, event bus, placement, deploy. */
export {};

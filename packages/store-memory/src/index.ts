/** In-memory Floria store. */
export {};

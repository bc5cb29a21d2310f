/** The khutulun command-line interface. */
export {};

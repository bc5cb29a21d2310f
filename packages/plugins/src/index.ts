/** Plugin host: Wasm (Extism), executable and in-process plugins behind one dispatch contract. */
export {};

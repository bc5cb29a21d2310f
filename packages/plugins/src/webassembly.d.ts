// The slice of the WebAssembly JS API this package uses: TypeScript declares it only in the
// DOM library, and @types/node 20 does not, so it is declared here rather than pulling in DOM.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
  }
  class Memory {
    readonly buffer: ArrayBuffer;
  }
  class Instance {
    readonly exports: Record<string, unknown>;
  }
  class RuntimeError extends Error {}
  function compile(bytes: BufferSource): Promise<Module>;
}

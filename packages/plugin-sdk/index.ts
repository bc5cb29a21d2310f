// The package entry AssemblyScript resolves for `import ... from "@khutulun/plugin-sdk"`.
export * from './assembly/index';

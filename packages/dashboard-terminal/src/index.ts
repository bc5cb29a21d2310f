/** `@khutulun/dashboard-terminal`: `khutulun top`, the terminal dashboard (ink). */
export { runTop, type TopOptions } from './run-top.js';
export { TopApp } from './top-app.js';

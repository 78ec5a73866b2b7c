// What the browser tests read in the page (inside page.evaluate): main.js exposes its state as
// `window.sss` (PageState, with its API in `sss.api`) and its renderer as `window.sssRenderer`.
// The tests keep their own scratch values on `window` under names that start with `__`.
// `sss.api` is typed `PageApi|null` in main.js (the state object is written before the API it
// holds), but main.js sets it in the same synchronous module evaluation that exposes
// `window.sss`, so no test, which starts once `sss.ready`, sees it null: here it is `PageApi`.
import type { PageApi, PageState } from '../../web/js/main.js';
import type { CanvasRenderer, WebGpuRenderer } from '../../web/js/renderers.js';

declare global {
  interface Window {
    sss: PageState & { api: PageApi };
    sssRenderer: WebGpuRenderer | CanvasRenderer;
    [scratch: `__${string}`]: any;
  }
}
export {};

// Keeps the page for offline use: registers the service worker (../sw.js), which keeps the
// page's files, the wasm package, the shaders, the weights and the demo scan in Cache Storage,
// so that after a first visit the page reloads and segments with the network off. Where
// service workers are missing or refused (file://, a browser or setting that forbids them) the
// page just works online: nothing here throws.

/**
 * Registers the service worker and resolves once it is known whether the page is kept:
 * 'ready' (everything is in Cache Storage and the worker controls the page), else
 * 'unavailable: <why>'.
 * @returns {Promise<string>}
 */
export async function keepForOffline() {
  const container = navigator.serviceWorker;
  if (!container) return 'unavailable: this browser offers no service workers to this page';
  try {
    const registration = await container.register(new URL('../sw.js', import.meta.url), {
      scope: new URL('../', import.meta.url).href,
    });
    // Some environments answer without registering (a test browser that blocks them).
    if (!registration) return 'unavailable: the service worker was refused';
    const pending = registration.installing ?? registration.waiting;
    if (pending && !(await activated(pending)) && !registration.active) {
      return 'unavailable: the files could not be kept (see the service worker\'s console)';
    }
    return registration.active ? 'ready' : 'unavailable: no service worker is active';
  } catch (e) {
    return `unavailable: ${/** @type {Error} */ (e).message}`;
  }
}

/**
 * Waits until a service worker is activated (true) or has failed to install (false).
 * @param {ServiceWorker} worker
 * @returns {Promise<boolean>}
 */
function activated(worker) {
  return new Promise((done) => {
    const check = () => {
      if (worker.state === 'activated') done(true);
      else if (worker.state === 'redundant') done(false);
    };
    worker.addEventListener('statechange', check);
    check();
  });
}

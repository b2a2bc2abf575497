// Offline after the first visit (not on file:// or where service workers are off). A new build
// of the site installs beside this one and waits: the page says so, and reloads into it only
// when the person asks (results on the page would be lost otherwise).

/**
 * Registers the service worker `url` and shows `banner` (with its `button`) when a new build
 * is ready, or when another tab has switched to one.
 * @param {URL} url
 * @param {HTMLElement} banner
 * @param {HTMLButtonElement} button
 */
export function offerUpdates(url, banner, button) {
  if (!("serviceWorker" in navigator && location.protocol.startsWith("http"))) return;
  const controlled = Boolean(navigator.serviceWorker.controller); // false on the first visit
  let accepted = false;
  const offer = (waiting) => {
    if (!navigator.serviceWorker.controller) return; // the first install: nothing to replace
    banner.hidden = false;
    button.onclick = () => {
      accepted = true;
      waiting.postMessage("skip-waiting");
    };
  };
  const watch = (worker) =>
    worker?.addEventListener("statechange", () => {
      if (worker.state === "installed") offer(worker);
    });
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (accepted) {
      location.reload();
    } else if (controlled) {
      // Another tab took the new version: this page's files are gone from the cache.
      banner.firstChild.textContent = "A new version of this site was opened in another tab: reload this page to go on. ";
      banner.hidden = false;
      button.onclick = () => location.reload();
    }
  });
  navigator.serviceWorker
    .register(url)
    .then((reg) => {
      if (reg.waiting) offer(reg.waiting);
      watch(reg.installing); // an update already under way when the page registered
      reg.addEventListener("updatefound", () => watch(reg.installing));
    })
    .catch((e) => console.warn("offline mode unavailable:", e));
}

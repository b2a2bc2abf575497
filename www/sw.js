// Service worker: after the first visit the page works offline, and an open page only ever runs
// the files of its own build. scripts/stamp-sw.sh writes the build's id and the SHA-256 of each
// of its files below; only those files are cached and served from here, anything else goes to
// the network untouched. A file fetched later (the WebGPU bundle, the first time a browser uses
// it) must have the hash of this build, or the page is told to reload: a host that has moved
// on to a newer build never mixes its files into an older page. A new build installs beside
// this one and waits until the page accepts it (app.js offers a reload).
const BUILD = "dev";
const FILES = {
  // FILES
};
const CACHE = `speech-emotion-${BUILD}`;
// What every visit needs. The WebGPU bundle waits until a browser uses it; the library's
// package files (its docs, types, example page) are never needed by the page itself.
const LATER = /^lib\/pkg\/webgpu\/|^lib\/examples\/|^lib\/package\.json$|\.md$|\.d\.ts$/;
const CORE = Object.keys(FILES).filter((path) => !LATER.test(path));
const SCOPE = new URL(self.registration.scope).pathname;

const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** This build's `path` from the network, or null when the host serves other bytes. */
async function fetchOwn(path) {
  const response = await fetch(new Request(path, { cache: "reload" }));
  if (!response.ok) return null;
  const body = await response.clone().arrayBuffer();
  return hex(await crypto.subtle.digest("SHA-256", body)) === FILES[path] ? response : null;
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      for (const path of CORE) {
        const response = await fetchOwn(path);
        // The host changed while this build was installing: give up; the next visit retries.
        if (!response) throw new Error(`${path} is not the file of build ${BUILD}`);
        await cache.put(path, response);
      }
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const keys = await caches.keys();
      await Promise.all(keys.filter((k) => k.startsWith("speech-emotion-") && k !== CACHE).map((k) => caches.delete(k)));
      await self.clients.claim();
    })(),
  );
});

// The page asks for this when the person accepts the new version.
self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || !url.pathname.startsWith(SCOPE)) return;
  let path = decodeURIComponent(url.pathname.slice(SCOPE.length));
  if (request.mode === "navigate" && (path === "" || path.endsWith("/"))) path += "index.html";
  if (!Object.hasOwn(FILES, path)) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      const hit = await cache.match(path);
      if (hit) return hit;
      const response = await fetchOwn(path);
      if (!response) {
        return new Response("This file belongs to another version of the site than the open page: reload the page.", {
          status: 409,
          statusText: "Conflict",
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
      await cache.put(path, response.clone());
      return response;
    })(),
  );
});

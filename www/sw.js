// Service worker: after the first visit the page works offline. Same-origin GETs are answered
// from the cache first; anything fetched once (the WebGPU bundle, say) is kept for next time.
// BUILD is replaced by scripts/build-web.sh with a hash of the site, so a new build replaces
// the old cache.
const CACHE = "speech-emotion-BUILD";
const CORE = [
  "./", "index.html", "app.js", "worker.js", "mic-worklet.js", "style.css", "icon.svg",
  "manifest.webmanifest", "model/speech-emotion.sew",
  "pkg/cpu/speech_emotion.js", "pkg/cpu/speech_emotion_bg.wasm",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(CORE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("speech-emotion-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // Pages are matched without their query (?backend=cpu is the same page).
    const hit = await cache.match(request, { ignoreSearch: request.mode === "navigate" });
    if (hit) return hit;
    const response = await fetch(request);
    if (response.ok) cache.put(request, response.clone());
    return response;
  })());
});

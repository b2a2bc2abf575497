// A minimal static file server for the tests: serves a folder on 127.0.0.1, on a free port.

import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".css": "text/css",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

/**
 * Serves `root` under `prefix` (e.g. "/" or "/speech-emotion/"). Resolves to
 * { url, close, requests, setRoot, setReachable }: `setRoot(dir)` serves another folder from then
 * on, as a host does when a new version of the site is deployed; `setReachable(false)` drops every
 * connection, open or new, without an answer (the requests are still recorded), as a network that
 * is down: the browser's own requests, which its offline emulation does not cover, fail too.
 */
export function serve(root, prefix = "/") {
  const requests = [];
  let reachable = true;
  const server = createServer(async (req, res) => {
    requests.push(req.url);
    if (!reachable) {
      req.socket.destroy();
      return;
    }
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (!path.startsWith(prefix)) {
      res.writeHead(404).end();
      return;
    }
    let file = normalize(join(root, path.slice(prefix.length)));
    if (!file.startsWith(normalize(root))) {
      res.writeHead(403).end();
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] || "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}${prefix}`,
        requests,
        close: () => new Promise((r) => server.close(r)),
        setRoot: (dir) => {
          root = dir;
        },
        setReachable: (on) => {
          reachable = on;
          if (!on) server.closeAllConnections();
        },
      });
    });
  });
}

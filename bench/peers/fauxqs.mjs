// Starts fauxqs (installed by bench/compare under bench/.peers/) on 127.0.0.1 only and without
// per-request logging; its own CLI binds 0.0.0.0 and logs every request.
// Usage: node fauxqs.mjs <path to node_modules/fauxqs> <port>
import { pathToFileURL } from "node:url";

const [dir, port] = process.argv.slice(2);
const { buildApp } = await import(pathToFileURL(`${dir}/dist/app.js`).href);
const app = buildApp({ logger: false });
await app.listen({ port: Number(port), host: "127.0.0.1" });
console.log(`fauxqs listening on 127.0.0.1:${port}`);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => app.close().then(() => process.exit(0)));
}

// Starts kinesalite (installed by bench/compare under bench/.peers/) on 127.0.0.1 only, in
// memory (its default store), with streams ACTIVE at once: its CLI binds every interface and
// keeps new streams CREATING for 500 ms.
// Usage: node kinesalite.mjs <path to node_modules/kinesalite> <port>
import { createRequire } from "node:module";

const [dir, port] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const kinesalite = require(dir);
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
server.listen(Number(port), "127.0.0.1", () => {
  console.log(`kinesalite listening on 127.0.0.1:${port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

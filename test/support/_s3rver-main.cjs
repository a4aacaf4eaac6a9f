// Starts s3rver for the tests, under Node (s3rver's list pagination needs a legacy cipher
// that Bun lacks; run with NODE_OPTIONS=--openssl-legacy-provider).
// argv[2]: JSON { directory, buckets: string[] }. Listens on 127.0.0.1 only, on a free port,
// prints {"port": N} as one JSON line on stdout, and exits when stdin closes (so it never
// outlives the test process) or on SIGTERM, removing its directory.
"use strict";
const fs = require("node:fs");
const S3rver = require("s3rver");

async function main() {
  const { directory, buckets } = JSON.parse(process.argv[2]);
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    vhostBuckets: false,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  process.stdout.write(JSON.stringify({ port }) + "\n");
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close().catch(() => {}).finally(() => {
      fs.rmSync(directory, { recursive: true, force: true });
      process.exit(0);
    });
  };
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.resume();
  process.on("SIGTERM", stop);
}

main().catch((err) => {
  process.stderr.write(`s3rver failed to start: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});

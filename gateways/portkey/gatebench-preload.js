// gatebench preload for Node gateways: `node -r {dir}/gatebench-preload.js …`.
//  (a) SIGTERM / SIGINT → process.exit(0), so gatebench's stop is a clean, prompt exit.
//  (b) SIGUSR2 toggles a V8 CPU profile through node:inspector (in-process, no debugger port):
//      first SIGUSR2: Profiler.enable, Profiler.setSamplingInterval (µs, env
//      GATEBENCH_PROFILE_INTERVAL_US, default 2000), Profiler.start;
//      next SIGUSR2: Profiler.stop, profile JSON written to
//      $GATEBENCH_PROFILE_DIR/profile-<n>.cpuprofile (n = 1, 2, …) via a temp file + rename,
//      so a reader never sees a partial file. GATEBENCH_PROFILE_DIR defaults to the cwd.
//      Beside it, profile-<n>.elu.json: the event loop's utilization over the same window
//      (performance.eventLoopUtilization: active / (active + idle) of the main thread's loop;
//      near 1 = one thread at 100%, a serial runtime), written before the profile itself.
"use strict";
const inspector = require("node:inspector");
const { performance } = require("node:perf_hooks");
const fs = require("node:fs");
const path = require("node:path");

const exitNow = () => process.exit(0);
process.on("SIGTERM", exitNow);
process.on("SIGINT", exitNow);

const dir = process.env.GATEBENCH_PROFILE_DIR || process.cwd();
const intervalUs = Math.max(1, parseInt(process.env.GATEBENCH_PROFILE_INTERVAL_US || "2000", 10) || 2000);
let session = null;
let busy = false;
let count = 0;
let eluStart = null;

const post = (method, params) =>
  new Promise((resolve, reject) =>
    session.post(method, params || {}, (err, res) => (err ? reject(err) : resolve(res))));

async function start() {
  eluStart = performance.eventLoopUtilization();
  session = new inspector.Session();
  session.connect();
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: intervalUs });
  await post("Profiler.start");
}

async function stop() {
  const elu = performance.eventLoopUtilization(eluStart);
  const { profile } = await post("Profiler.stop");
  await post("Profiler.disable");
  session.disconnect();
  session = null;
  count += 1;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `profile-${count}.cpuprofile`);
  const eluFile = path.join(dir, `profile-${count}.elu.json`);
  fs.writeFileSync(`${eluFile}.tmp-${process.pid}`, JSON.stringify({
    utilization: elu.utilization, active_ms: elu.active, idle_ms: elu.idle,
  }));
  fs.renameSync(`${eluFile}.tmp-${process.pid}`, eluFile);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(profile));
  fs.renameSync(tmp, file);
  return file;
}

process.on("SIGUSR2", () => {
  if (busy) return;
  busy = true;
  const running = session !== null;
  (running ? stop() : start())
    .then((file) => {
      if (file) process.stderr.write(`gatebench-preload: wrote ${file}\n`);
      else process.stderr.write(`gatebench-preload: CPU profile started (${intervalUs} us)\n`);
    })
    .catch((err) => {
      process.stderr.write(`gatebench-preload: profile ${running ? "stop" : "start"} failed: ${err}\n`);
      if (session) { try { session.disconnect(); } catch (_) {} session = null; }
    })
    .finally(() => { busy = false; });
});

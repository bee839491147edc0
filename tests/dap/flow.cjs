// The agent debugger driven by Microsoft's own DAP test client (@vscode/debugadapter-testsupport).
// Run by tests/test_debugger.py with: node flow.cjs SCENARIO; the environment names the adapter,
// the workspace and the test-support module. Exits non-zero (with the reason) on any failure.
const assert = require("assert");
const path = require("path");
const { DebugClient } = require(process.env.DAP_TESTSUPPORT);

const ws = process.env.WS;
const calcSpec = path.join(ws, "agents", "calc", "agent.yaml");
const bossSpec = path.join(ws, "agents", "boss", "agent.yaml");

async function client() {
  const dc = new DebugClient(process.env.SUTAZAI, "dap", "sutazai", { cwd: ws });
  dc.defaultTimeout = 30000;
  await dc.start();
  await dc.initializeRequest({ adapterID: "sutazai", linesStartAt1: true, columnsStartAt1: true, pathFormat: "path" });
  return dc;
}

async function topFrame(dc, threadId) {
  const trace = await dc.stackTraceRequest({ threadId });
  return trace.body.stackFrames;
}

async function pending(dc, frameId) {
  const scopes = await dc.scopesRequest({ frameId });
  const scope = scopes.body.scopes[0];
  const vars = await dc.variablesRequest({ variablesReference: scope.variablesReference });
  return { scope, vars: Object.fromEntries(vars.body.variables.map((v) => [v.name, v])) };
}

const scenarios = {
  // A breakpoint on the calculator's line under `tools:` stops before it is called; its arguments
  // show as variables; setVariable changes them; the tool receives the new value.
  async edit() {
    const dc = await client();
    const stopped = dc.waitForEvent("stopped");
    await dc.launchRequest({ agent: "calc", input: "What is 2**8?" });
    const bps = await dc.setBreakpointsRequest({
      source: { path: calcSpec },
      breakpoints: [{ line: Number(process.env.CALC_LINE) }, { line: 1 }, { line: Number(process.env.CALC_LINE), condition: "tool ==" }],
    });
    assert.strictEqual(bps.body.breakpoints[0].verified, true, JSON.stringify(bps.body));
    assert.strictEqual(bps.body.breakpoints[1].verified, false);
    assert.match(bps.body.breakpoints[1].message, /not an entry of `tools:`/);
    assert.strictEqual(bps.body.breakpoints[2].verified, false);
    assert.match(bps.body.breakpoints[2].message, /condition does not parse/);
    await dc.configurationDoneRequest();
    const event = await stopped;
    assert.strictEqual(event.body.reason, "breakpoint");
    const frames = await topFrame(dc, event.body.threadId);
    assert.strictEqual(frames[0].line, Number(process.env.CALC_LINE));
    assert.strictEqual(frames[0].source.path, calcSpec);
    const { vars } = await pending(dc, frames[0].id);
    assert.strictEqual(vars.tool.value, '"calculator"');
    const args = await dc.variablesRequest({ variablesReference: vars.arguments.variablesReference });
    const expression = args.body.variables.find((v) => v.name === "expression");
    assert.strictEqual(expression.value, '"2**8"');
    const set = await dc.setVariableRequest({ variablesReference: vars.arguments.variablesReference, name: "expression", value: '"2**10"' });
    assert.strictEqual(set.body.value, '"2**10"');
    const evaluated = await dc.evaluateRequest({ expression: "args.expression", frameId: frames[0].id, context: "repl" });
    assert.strictEqual(evaluated.body.result, '"2**10"');
    const byHand = await dc.evaluateRequest({ expression: 'call calculator {"expression": "6*7"}', frameId: frames[0].id, context: "repl" });
    assert.strictEqual(byHand.body.result, "42");
    await dc.continueRequest({ threadId: event.body.threadId });
    await dc.waitForEvent("terminated");
    await dc.stop();
  },

  // Stop before the delegation, step into the child run (a new thread, two frames), go on to the end.
  async stepin() {
    const dc = await client();
    const stopped = dc.waitForEvent("stopped");
    await dc.launchRequest({ agent: "boss", input: "Ask calc for 2**3." });
    await dc.setExceptionBreakpointsRequest({ filters: ["delegation"] });
    await dc.configurationDoneRequest();
    const first = await stopped;
    const parentThread = first.body.threadId;
    const frames = await topFrame(dc, parentThread);
    assert.match(frames[0].name, /before delegation ask_calc/);
    assert.strictEqual(frames[0].source.path, bossSpec);
    const inChild = dc.waitForEvent("stopped");
    await dc.stepInRequest({ threadId: parentThread });
    const second = await inChild;
    assert.strictEqual(second.body.reason, "step");
    assert.notStrictEqual(second.body.threadId, parentThread);
    const childFrames = await topFrame(dc, second.body.threadId);
    assert.strictEqual(childFrames.length, 2, JSON.stringify(childFrames));
    assert.match(childFrames[0].name, /^calc: before a model call/);
    assert.match(childFrames[1].name, /^boss: waiting on calc/);
    const threads = await dc.threadsRequest();
    assert.ok(threads.body.threads.length >= 2);
    await dc.continueRequest({ threadId: second.body.threadId });
    await dc.waitForEvent("terminated");
    await dc.stop();
  },

  // A recorded run debugged offline: no engine, the same answers, a breakpoint still stops.
  async replay() {
    const dc = await client();
    const stopped = dc.waitForEvent("stopped");
    await dc.launchRequest({ run: process.env.RUN_ID, replay: true });
    await dc.setBreakpointsRequest({ source: { path: calcSpec }, breakpoints: [{ line: Number(process.env.CALC_LINE) }] });
    await dc.configurationDoneRequest();
    const event = await stopped;
    const frames = await topFrame(dc, event.body.threadId);
    const { vars } = await pending(dc, frames[0].id);
    assert.strictEqual(vars.tool.value, '"calculator"');
    await dc.continueRequest({ threadId: event.body.threadId });
    await dc.waitForEvent("terminated");
    await dc.stop();
  },

  // Mistakes are error responses with a message; the adapter keeps answering.
  async mistakes() {
    const dc = await client();
    await assert.rejects(dc.launchRequest({ agent: "nobody", input: "hi" }), /unknown agent 'nobody'/);
    await assert.rejects(dc.attachRequest({ run: process.env.RUN_ID }), /has finished/);
    await assert.rejects(dc.customRequest("frobnicate", {}), /does not support 'frobnicate'/);
    const threads = await dc.threadsRequest();
    assert.deepStrictEqual(threads.body.threads, []);
    await dc.stop();
  },
};

scenarios[process.argv[2]]().then(
  () => process.exit(0),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  },
);

// Download a whole repo snapshot into a Hugging Face hub cache with
// @huggingface/hub's own snapshotDownload (its cache-writing code, not ours),
// e.g. from tests/hub/fake_hub.py, and print the snapshot path on stdout.
//
//   node tests/hub/hfjs_download.mjs [--npm-prefix DIR] --endpoint URL --cache CACHE_DIR
//        --repo ORG/NAME [--revision main] [--token T]
//
// The package is found under DIR/node_modules, else through NODE_PATH.
// Note: @huggingface/hub rejects tokens that do not start with "hf_".
import { createRequire } from "node:module";
import { join } from "node:path";

function loadHub(prefix) {
	const require = createRequire(import.meta.url);
	// CommonJS resolution honours NODE_PATH (ES module imports do not).
	const paths = prefix ? [join(prefix, "node_modules")] : undefined;
	return require(require.resolve("@huggingface/hub", paths ? { paths } : undefined));
}

const USAGE =
	"usage: hfjs_download.mjs [--npm-prefix DIR] --endpoint URL --cache CACHE_DIR --repo ORG/NAME [--revision REV] [--token T]";

function parseArgs(argv) {
	const names = { "--npm-prefix": "prefix", "--endpoint": "endpoint", "--cache": "cache", "--repo": "repo",
		"--revision": "revision", "--token": "token" };
	const args = { revision: "main" };
	for (let i = 0; i < argv.length; i += 2) {
		const key = names[argv[i]];
		if (!key || i + 1 >= argv.length) throw new Error(USAGE);
		args[key] = argv[i + 1];
	}
	if (!args.endpoint || !args.cache || !args.repo) throw new Error(USAGE);
	return args;
}

try {
	const args = parseArgs(process.argv.slice(2));
	const { snapshotDownload } = loadHub(args.prefix);
	// The package logs progress with console.debug/info: keep stdout for the result.
	for (const level of ["log", "debug", "info"]) console[level] = (...a) => console.error(...a);
	const snapshot = await snapshotDownload({
		repo: { type: "model", name: args.repo },
		revision: args.revision,
		cacheDir: args.cache,
		hubUrl: args.endpoint,
		...(args.token ? { accessToken: args.token } : {}),
	});
	process.stdout.write(snapshot + "\n");
} catch (err) {
	const status = err?.statusCode ? ` (HTTP ${err.statusCode})` : "";
	process.stderr.write(`hfjs_download.mjs: ${err?.message ?? err}${status}\n`);
	process.exit(1);
}

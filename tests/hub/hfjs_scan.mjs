// Scan a Hugging Face hub cache directory with @huggingface/hub's own
// scanCacheDir and print what it sees as JSON, so tests can check that a
// cache written by `lmcc pull` reads back the way huggingface.js reads it.
//
//   node tests/hub/hfjs_scan.mjs [--npm-prefix DIR] CACHE_DIR
//
// The package is found under DIR/node_modules, else through NODE_PATH.
import { createRequire } from "node:module";
import { join, relative } from "node:path";

function loadHub(prefix) {
	const require = createRequire(import.meta.url);
	// CommonJS resolution honours NODE_PATH (ES module imports do not).
	const paths = prefix ? [join(prefix, "node_modules")] : undefined;
	return require(require.resolve("@huggingface/hub", paths ? { paths } : undefined));
}

const USAGE = "usage: hfjs_scan.mjs [--npm-prefix DIR] CACHE_DIR";

function parseArgs(argv) {
	const args = { prefix: undefined, cacheDir: undefined };
	for (let i = 0; i < argv.length; i++) {
		if (argv[i] === "--npm-prefix" && i + 1 < argv.length) args.prefix = argv[++i];
		else if (!args.cacheDir && !argv[i].startsWith("--")) args.cacheDir = argv[i];
		else throw new Error(USAGE);
	}
	if (!args.cacheDir) throw new Error(USAGE);
	return args;
}

// JSON.stringify cannot write these; tests only need plain values.
function plain(_key, value) {
	if (typeof value === "bigint") return Number(value);
	if (value instanceof Set) return [...value];
	if (value instanceof Map) return Object.fromEntries(value);
	if (value instanceof Error) return value.message;
	return value; // Date already has toJSON
}

const byKey = (key) => (a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0);

function describeRevision(rev) {
	return {
		commitOid: rev.commitOid,
		refs: [...rev.refs].sort(),
		size: rev.size,
		// scanCacheDir gives absolute paths; the path inside the snapshot is what tests compare.
		files: rev.files
			.map((f) => ({ path: relative(rev.path, f.path), size: f.blob.size, blobPath: f.blob.path }))
			.sort(byKey("path")),
	};
}

function describe(info) {
	return {
		size: info.size,
		repos: info.repos
			.map((repo) => ({
				repoId: repo.id.name,
				repoType: repo.id.type,
				size: repo.size,
				filesCount: repo.filesCount,
				revisions: repo.revisions.map(describeRevision).sort(byKey("commitOid")),
			}))
			.sort(byKey("repoId")),
		warnings: info.warnings.map((w) => String(w?.message ?? w)),
	};
}

try {
	const args = parseArgs(process.argv.slice(2));
	const { scanCacheDir } = loadHub(args.prefix);
	const info = await scanCacheDir(args.cacheDir);
	process.stdout.write(JSON.stringify(describe(info), plain) + "\n");
} catch (err) {
	process.stderr.write(`hfjs_scan.mjs: ${err?.message ?? err}\n`);
	process.exit(1);
}

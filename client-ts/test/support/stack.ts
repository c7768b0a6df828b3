/** The local stack (`python -m devstack serve --control`) as a subprocess, its endpoints, and its control endpoint. */

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository (this file runs from client-ts/build/test/support/). */
export const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
export const PACKAGE_DIR = join(REPO, "client-ts");
const PYTHON = process.env["DEVSTACK_PYTHON"] ?? join(REPO, ".venv", "bin", "python");
const STARTUP_MS = 90_000;

export interface Endpoints {
  apiUrl: string;
  s3Endpoint: string;
  bucket: string;
  token: string;
  controlUrl: string;
  pageUrl?: string;
  corsAllowedOrigins: string[];
}

export interface CorsRule {
  AllowedMethods: string[];
  AllowedOrigins: string[];
  AllowedHeaders?: string[];
  ExposeHeaders?: string[];
  MaxAgeSeconds?: number;
}

export class Stack {
  private constructor(
    readonly endpoints: Endpoints,
    private readonly child: ChildProcess,
    private readonly stateDir: string,
  ) {}

  /** Starts a stack and resolves once it serves (its endpoints file written). */
  static async start(options: { staticDir?: string; allowOrigins?: string[] } = {}): Promise<Stack> {
    const stateDir = mkdtempSync(join(tmpdir(), "devstack-ts-"));
    const args = ["-m", "devstack", "--state-dir", stateDir, "serve", "--control"];
    if (options.staticDir) args.push("--static", options.staticDir);
    for (const origin of options.allowOrigins ?? []) args.push("--allow-origin", origin);
    const logFile = join(stateDir, "stack.log");
    const log = openSync(logFile, "w");
    // The handlers log every request: to a file, shown only when the stack fails to start.
    const child = spawn(PYTHON, args, { cwd: REPO, stdio: ["ignore", log, log] });
    closeSync(log); // the child has its own copy
    // However this test process ends, the stack goes with it.
    const reap = () => child.kill("SIGKILL");
    process.once("exit", reap);
    child.once("exit", () => process.off("exit", reap));
    const endpointsFile = join(stateDir, "endpoints.json");
    const deadline = Date.now() + STARTUP_MS;
    try {
      for (;;) {
        if (existsSync(endpointsFile)) {
          return new Stack(JSON.parse(readFileSync(endpointsFile, "utf8")) as Endpoints, child, stateDir);
        }
        if (child.exitCode !== null || Date.now() > deadline) {
          const tail = readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n");
          throw new Error(`the local stack did not start (${PYTHON} ${args.join(" ")}):\n${tail}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } catch (error) {
      child.kill("SIGKILL"); // a live child would keep this test process from ever ending
      throw error;
    }
  }

  /** SIGTERM (the stack stops cleanly), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.stateDir, { recursive: true, force: true });
  }

  async injectFaults(faults: { failS3Puts?: number; expireS3Urls?: number }): Promise<void> {
    await this.control("POST", "/faults", faults);
  }

  async injected(): Promise<Record<string, number>> {
    return ((await this.control("GET", "/faults")) as { injected: Record<string, number> }).injected;
  }

  async bucketCors(): Promise<CorsRule[]> {
    return ((await this.control("GET", "/bucket-cors")) as { CORSRules: CorsRule[] }).CORSRules;
  }

  async setBucketCors(rules: CorsRule[]): Promise<void> {
    await this.control("PUT", "/bucket-cors", { CORSRules: rules });
  }

  private async control(method: string, path: string, body?: unknown): Promise<unknown> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "Content-Type": "application/json" };
    }
    const response = await fetch(this.endpoints.controlUrl + path, init);
    if (!response.ok) throw new Error(`control ${method} ${path}: HTTP ${response.status}: ${await response.text()}`);
    return response.status === 204 ? null : response.json();
  }
}

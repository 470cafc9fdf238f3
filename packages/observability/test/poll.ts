/**
 * Polls `check` every 20 ms until it returns something other than `undefined`; fails after
 * `timeoutMs`. For external processes (Prometheus, rsyslog) whose progress has no event to wait on.
 * @param check - the condition
 * @param timeoutMs - the bound
 */
export async function pollUntil<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * The "depends on" relation between the services of a server, kept acyclic (Pingora's
 * `DependencyGraph`). Nodes are numbered in insertion order.
 * @internal
 */
export class DependencyGraph {
  readonly #names: string[]
  /** `#dependencies[n]` = the nodes `n` depends on. */
  readonly #dependencies: number[][]

  /** Creates an empty graph. */
  constructor() {
    this.#names = []
    this.#dependencies = []
  }

  /**
   * Adds a node and returns its id.
   * @param name - the service name
   */
  addNode(name: string): number {
    this.#names.push(name)
    this.#dependencies.push([])
    return this.#names.length - 1
  }

  /**
   * Records that `dependent` starts only after `dependency` is ready.
   * @param dependent - the node that waits
   * @param dependency - the node waited for
   * @throws RangeError when the edge would close a cycle
   */
  addDependency(dependent: number, dependency: number): void {
    const deps = this.#dependencies[dependent]
    if (deps === undefined || this.#dependencies[dependency] === undefined) {
      throw new RangeError('Unknown service in dependency')
    }
    if (dependent === dependency || this.#dependsOn(dependency, dependent)) {
      throw new RangeError(
        `Circular service dependency detected between ${this.#names[dependency]} and ${this.#names[dependent]}`,
      )
    }
    if (!deps.includes(dependency)) deps.push(dependency)
  }

  /**
   * The direct dependencies of a node.
   * @param node - the node
   */
  dependenciesOf(node: number): readonly number[] {
    return this.#dependencies[node] ?? []
  }

  /** Every node, each after all its dependencies; ties keep insertion order. */
  topologicalSort(): number[] {
    const count = this.#names.length
    const done = new Array<boolean>(count).fill(false)
    const order: number[] = []
    while (order.length < count) {
      for (let node = 0; node < count; node++) {
        if (done[node] === true) continue
        const deps = this.#dependencies[node] as number[]
        if (deps.every((dep) => done[dep] === true)) {
          done[node] = true
          order.push(node)
          break
        }
      }
    }
    return order
  }

  #dependsOn(from: number, target: number): boolean {
    const stack = [from]
    const seen = new Set<number>()
    while (stack.length > 0) {
      const node = stack.pop() as number
      if (node === target) return true
      if (seen.has(node)) continue
      seen.add(node)
      for (const dep of this.#dependencies[node] ?? []) stack.push(dep)
    }
    return false
  }
}

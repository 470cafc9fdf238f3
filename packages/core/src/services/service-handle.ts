import type { DependencyGraph } from './dependency-graph.ts'

/**
 * A reference to a service added to a server, used to declare start-up dependencies (Pingora's
 * `ServiceHandle`). Returned by `Server.addService`.
 *
 * @example
 * ```ts
 * const discovery = server.addService(backgroundService('discovery', task))
 * const proxy = server.addService(proxyService)
 * proxy.addDependency(discovery) // the proxy starts once discovery is ready
 * ```
 */
export class ServiceHandle {
  /** The service name. */
  readonly name: string
  /** @internal the node id in the server's dependency graph. */
  readonly id: number
  readonly #graph: DependencyGraph

  /**
   * @internal created by the server.
   * @param id - the node id
   * @param name - the service name
   * @param graph - the server's dependency graph
   */
  constructor(id: number, name: string, graph: DependencyGraph) {
    this.id = id
    this.name = name
    this.#graph = graph
  }

  /**
   * Makes this service start only after `dependency` is ready.
   * @param dependency - the service to wait for
   * @throws RangeError when this would create a dependency cycle or `dependency` belongs to
   * another server
   */
  addDependency(dependency: ServiceHandle): void {
    if (dependency.#graph !== this.#graph) {
      throw new RangeError(`Service ${dependency.name} belongs to another server`)
    }
    this.#graph.addDependency(this.id, dependency.id)
  }

  /**
   * Makes this service start only after all of `dependencies` are ready.
   * @param dependencies - the services to wait for
   * @throws RangeError when this would create a dependency cycle
   */
  addDependencies(dependencies: Iterable<ServiceHandle>): void {
    for (const dependency of dependencies) this.addDependency(dependency)
  }
}

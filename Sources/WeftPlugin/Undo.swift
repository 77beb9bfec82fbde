/// One step of a failed ADD's rollback: it undoes what one step made. Each is registered as soon as
/// what it undoes exists, and a failure runs them all in reverse order.
typealias Undo = () throws -> Void

/// The undo steps of one ADD, in the order their objects were made. A feature step registers each undo
/// the moment its object exists (not when the step returns): a step that fails half-way has its first
/// half undone too.
final class UndoLog {
    private(set) var steps: [Undo] = []

    func register(_ step: @escaping Undo) { steps.append(step) }

    /// Runs every step, last registered first. A step that fails does not stop the others (each undoes
    /// something of its own) and does not replace the ADD's error, which kubelet acts on; it is reported
    /// (the plugin's stderr, kept in containerd's log), because what it left is on the node until DEL.
    func run(after error: Error, report: (String) -> Void) {
        for step in steps.reversed() {
            do {
                try step()
            } catch let undoError {
                report("ADD failed (\(error)) and a step of its rollback failed too, leaving its object for DEL: \(undoError)")
            }
        }
    }
}

import WeftCNI
import WeftIPAM
import WeftNetlink

/// The one place where each layer's error becomes a CNI error (README "Error codes").
enum ErrorMapping {
    static func cniError(_ error: Error) -> CNIError {
        switch error {
        case let error as CNIError:
            return error
        case let error as IPAMError:
            switch error {
            case .exhausted, .lockTimeout:
                return CNIError(.tryAgainLater, error.description, details: error.details)
            case .requestedUnavailable:
                return CNIError(.invalidConfig, error.description)
            case .io:
                return CNIError(.ioFailure, "IPAM store: \(error.description)")
            case .addressTaken:
                return CNIError(.nodeConflict, error.description)
            }
        case let error as NetlinkError:
            return CNIError(.datapathFailure, error.description)
        default:
            return CNIError(.ioFailure, "unexpected failure", details: "\(error)")
        }
    }
}

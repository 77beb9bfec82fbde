import WeftCNI
import WeftIPAM
import WeftNetlink
import WeftNftables
import WeftSystem

/// The one place where each layer's error becomes a CNI error (README "Error codes").
enum ErrorMapping {
    static func cniError(_ error: Error) -> CNIError {
        switch error {
        case let error as CNIError:
            return error
        case let error as IPAMError:
            switch error {
            case .exhausted, .lockTimeout, .devicesExhausted:
                return CNIError(.tryAgainLater, error.description, details: error.details)
            case .requestedUnavailable:
                return CNIError(.invalidConfig, error.description)
            case .io(let failure):
                return CNIError(.ioFailure, "IPAM store: \(failure.description)")
            case .addressTaken:
                return CNIError(.nodeConflict, error.description)
            }
        case let error as NetlinkError where error.isValidation:
            // Refused before it was sent: a value of the config that cannot be encoded.
            return CNIError(.invalidConfig, error.description)
        case let error as NetlinkError:
            // The kernel's netlink replies: it refused the request.
            return CNIError(.datapathFailure, error.description)
        case let error as NftBatchOverflow:
            return CNIError(.datapathFailure, error.description)
        case let error as SystemError:
            // A file, sysctl, namespace or socket call failed.
            return CNIError(.ioFailure, error.description)
        default:
            return CNIError(.ioFailure, "unexpected failure", details: "\(error)")
        }
    }
}

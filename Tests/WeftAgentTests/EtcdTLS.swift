import Foundation
import WeftTestSupport

/// A throwaway CA, etcd's server certificate (for its address) and a client certificate, made with
/// openssl in a test's directory, and the flags that use them.
enum EtcdTLS {
    static func makeCertificates(in directory: String, serverIP: String) throws {
        func openssl(_ arguments: String...) throws {
            let result = try run(["/usr/bin/openssl"] + arguments)
            guard result.status == 0 else { throw TestFailure("openssl \(arguments.joined(separator: " ")): \(result.stderr)") }
        }
        let d = directory
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try run(["/usr/bin/openssl", "req", "-x509"] + ec + ["-keyout", "\(d)/ca.key", "-out", "\(d)/ca.crt", "-days", "2", "-subj", "/CN=wt-etcd-ca"])
        // etcd's JSON gateway dials etcd's own gRPC port with the server certificate as its client
        // certificate, so under --client-cert-auth that certificate must also allow clientAuth.
        for (name, usage) in [("server", "serverAuth,clientAuth"), ("client", "clientAuth")] {
            let request = try run(["/usr/bin/openssl", "req"] + ec + ["-keyout", "\(d)/\(name).key", "-out", "\(d)/\(name).csr", "-subj", "/CN=wt-\(name)"])
            guard request.status == 0 else { throw TestFailure("openssl req \(name): \(request.stderr)") }
            let san = name == "server" ? "subjectAltName=IP:\(serverIP)\n" : ""
            try "\(san)extendedKeyUsage=\(usage)\n".write(toFile: "\(d)/\(name).ext", atomically: true, encoding: .utf8)
            try openssl(
                "x509", "-req", "-in", "\(d)/\(name).csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key", "-CAcreateserial",
                "-out", "\(d)/\(name).crt", "-days", "2", "-extfile", "\(d)/\(name).ext")
        }
        guard FileManager.default.fileExists(atPath: "\(d)/ca.crt") else { throw TestFailure("openssl made no CA") }
    }

    /// etcd serving TLS and asking every client for a certificate signed by the CA.
    static func serverFlags(_ d: String) -> [String] {
        ["--cert-file", "\(d)/server.crt", "--key-file", "\(d)/server.key", "--client-cert-auth", "--trusted-ca-file", "\(d)/ca.crt"]
    }

    static func clientFlags(_ d: String) -> [String] {
        ["--cacert", "\(d)/ca.crt", "--cert", "\(d)/client.crt", "--key", "\(d)/client.key"]
    }
}

"""The swarm's certificate authority, join tokens and mutual TLS (swarmkit's `ca/`).

See docs/security.md for what is protected, where keys live and how a node uses these.
"""
from ._certs import (
    DEFAULT_NODE_CERT_EXPIRY, EXPIRED, MANAGER_OU, RENEWAL_RANGE, ROOT_CA_EXPIRY, ROOT_CN,
    UNKNOWN_AUTHORITY, WORKER_OU, CertificateError, RootCA, cert_pem, cluster_of, create_csr,
    generate_key, issuer_info, issuer_of, key_pem, load_chain, load_key, needs_renewal, node_id_of, not_after,
    not_before, renewal_time, role_of,
)
from ._files import (
    CERT_DIR, NODE_CERT_FILE, NODE_KEY_FILE, ROOT_CA_FILE, NodeCertificates, cert_paths,
    new_key_and_csr, remove_certificates,
)
from ._tls import (
    PeerIdentity, PermissionDenied, api_server_context, client_context, fetch_root_ca,
    insecure_client_context, peer_certificate, peer_identity, require_manager, require_role,
    role_hostname, server_context, write_docker_client_certs,
)
from ._tokens import (
    INVALID_JOIN_TOKEN, INVALID_TOKEN, InvalidToken, JoinTokens, check_ca_digest,
    generate_join_token, parse_token, token_matches_ca,
)

__all__ = [
    "CERT_DIR", "DEFAULT_NODE_CERT_EXPIRY", "EXPIRED", "INVALID_JOIN_TOKEN", "INVALID_TOKEN",
    "MANAGER_OU", "NODE_CERT_FILE", "NODE_KEY_FILE", "RENEWAL_RANGE", "ROOT_CA_EXPIRY",
    "ROOT_CA_FILE", "ROOT_CN", "UNKNOWN_AUTHORITY", "WORKER_OU", "CertificateError",
    "InvalidToken", "JoinTokens", "NodeCertificates", "PeerIdentity", "PermissionDenied",
    "RootCA", "api_server_context", "cert_paths", "cert_pem", "check_ca_digest",
    "client_context", "cluster_of", "create_csr", "fetch_root_ca", "generate_join_token",
    "generate_key", "insecure_client_context", "issuer_info", "issuer_of", "key_pem", "load_chain", "load_key",
    "needs_renewal", "new_key_and_csr", "node_id_of", "not_after", "not_before", "parse_token",
    "peer_certificate", "peer_identity", "remove_certificates", "renewal_time",
    "require_manager", "require_role", "role_hostname", "role_of", "server_context",
    "token_matches_ca", "write_docker_client_certs",
]

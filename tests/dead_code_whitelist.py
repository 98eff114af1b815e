"""Names vulture cannot see being used: methods a framework calls by name on our subclasses.

Read by tests/test_dead_code.py (not imported by anything; vulture only parses it). Each group
says who calls the names.
"""

from vulture.whitelist_utils import Whitelist

_ = Whitelist()

# httpx calls an Auth's flows (app.smart.tokens.SmartAuth)
_.sync_auth_flow
_.async_auth_flow

# Qt calls the overrides of its virtual methods
_.eventFilter  # app.ui.lock: QObject.eventFilter
_.headerData  # app.ui.outbox_model: QAbstractTableModel.headerData

# Authlib calls these on the sandbox's client, code, token, grant, endpoint and server classes
# (ClientMixin, AuthorizationCodeMixin, TokenMixin, the grants, endpoints and OpenIDCode)
_.get_client_id
_.get_default_redirect_uri
_.get_allowed_scope
_.check_redirect_uri
_.check_endpoint_auth_method
_.check_response_type
_.check_grant_type
_.query_token
_.check_permission
_.create_introspection_payload
_.get_issuer
_.save_authorization_code
_.query_authorization_code
_.authenticate_user
_.delete_authorization_code
_.authenticate_refresh_token
_.issue_token
_.revoke_old_credential
_.query_client
_.validate_requested_scope
_.resolve_client_private_key
_.get_client_algorithm
_.get_encode_header
_.get_client_claims
_.exists_nonce
_.generate_user_info
_.get_redirect_uri
_.get_nonce
_.get_auth_time
_.get_expires_in
_.get_user

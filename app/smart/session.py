"""``SmartSession``: sign in, stay signed in, restore at start-up, sign out — for one site.

The UI drives it (``sign_in``/``cancel_sign_in``/``sign_out``) and renders its events
(``subscribe``); the FHIR layer sends requests with ``auth=session.auth``; the sync layer,
when a request raises ``SignInRequired``, waits on ``wait_until_signed_in()`` and retries:
an ended session never fails queued work.

    SIGNED_OUT --sign_in/restore--> SIGNING_IN --ok--> SIGNED_IN --refresh impossible-->
    SIGN_IN_REQUIRED --sign_in--> ... ; any state --sign_out--> SIGNED_OUT
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import httpx

from app.domain.clock import utc_now
from app.domain.site import Site
from app.smart.authorize import build_authorization_request, code_from_callback
from app.smart.browser import BrowserLauncher, SystemBrowser
from app.smart.discovery import SmartConfiguration, discover
from app.smart.errors import (
    AuthorizationError,
    BrowserError,
    KeyringError,
    SignInCancelled,
    SignInRequired,
    SmartError,
)
from app.smart.http_log import prefix, tagged
from app.smart.identity import (
    FhirUserRef,
    SignedInUser,
    read_display_name,
    resolve_fhir_user,
    verify_id_token,
)
from app.smart.keyring_store import RefreshTokenStore, StoredSession
from app.smart.lifetime import SessionKeeping, SessionLifetime
from app.smart.redirect import LoopbackRedirectReceiver, RedirectReceiver, ResultPage
from app.smart.scopes import ALL_FEATURES, Feature, ScopeReport, compare, requested_scopes
from app.smart.session_states import SessionState as SessionState
from app.smart.session_states import SignInProgress as SignInProgress
from app.smart.session_states import SignInStep as SignInStep
from app.smart.token_endpoint import TokenEndpoint
from app.smart.tokens import RefreshPolicy, SmartAuth, TokenManager, TokenSet

log = logging.getLogger(__name__)

DEFAULT_SIGN_IN_TIMEOUT = 300.0


@dataclass(frozen=True)
class LaunchContext:
    """Patient and encounter the EHR put in context (both None in most clinician launches)."""

    patient_id: str | None = None
    encounter_id: str | None = None


StateListener = Callable[[SessionState], None]
ProgressListener = Callable[[SignInProgress], None]
ReceiverFactory = Callable[[str], RedirectReceiver]


class SmartSession:
    def __init__(
        self,
        site: Site,
        http: httpx.AsyncClient,
        *,
        token_store: RefreshTokenStore | None = None,
        browser: BrowserLauncher | None = None,
        receiver_factory: ReceiverFactory | None = None,
        features: Iterable[Feature] = ALL_FEATURES,
        clock: Callable[[], datetime] = utc_now,
        refresh_policy: RefreshPolicy | None = None,
        sign_in_timeout: float = DEFAULT_SIGN_IN_TIMEOUT,
        use_nonce: bool = True,
        ehr_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``ehr_ready``: awaited before the first request of a sign-in or a resume, for an
        EHR that may still be starting (the embedded sandbox starts after the window paints);
        it raises a SmartError, in words, when the EHR will not be there."""
        self.site = site
        self._http = http
        self._store = token_store if token_store is not None else RefreshTokenStore(site.id)
        self._browser = browser if browser is not None else SystemBrowser()
        self._receiver_factory = receiver_factory or LoopbackRedirectReceiver
        self.features = frozenset(features)
        self._clock = clock
        self._timeout = sign_in_timeout
        self._use_nonce = use_nonce
        self._ehr_ready = ehr_ready
        self._tokens = TokenManager(
            self,
            clock=clock,
            policy=refresh_policy,
            on_tokens_changed=self._tokens_changed,
            on_sign_in_required=self._refresh_impossible,
        )
        self.auth: httpx.Auth = SmartAuth(self._tokens)
        self._state = SessionState.SIGNED_OUT
        self._signed_in = asyncio.Event()
        self._state_listeners: list[StateListener] = []
        self._progress_listeners: list[ProgressListener] = []
        self._endpoint: TokenEndpoint | None = None
        self._receiver: RedirectReceiver | None = None
        self._sign_in_task: asyncio.Task[object] | None = None
        self._cancel_requested = False
        self.configuration: SmartConfiguration | None = None
        self.user: SignedInUser | None = None
        self.context = LaunchContext()
        self.scope_report: ScopeReport | None = None
        self.warnings: list[str] = []  # non-fatal problems to show (keyring unavailable, ...)
        self.last_error: SmartError | None = None
        self._kept = False  # the current refresh token is in the keyring

    # ------------------------------------------------------------------ events
    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def tokens(self) -> TokenSet | None:
        """The tokens of the current sign-in (None when signed out). In memory only: the
        refresh token is kept in the OS keyring, and no token is ever logged."""
        return self._tokens.current

    def subscribe(
        self, on_state: StateListener | None = None, on_progress: ProgressListener | None = None
    ) -> Callable[[], None]:
        """Register listeners; returns a function that unregisters them."""
        if on_state is not None:
            self._state_listeners.append(on_state)
        if on_progress is not None:
            self._progress_listeners.append(on_progress)

        def unsubscribe() -> None:
            if on_state in self._state_listeners:
                self._state_listeners.remove(on_state)
            if on_progress in self._progress_listeners:
                self._progress_listeners.remove(on_progress)

        return unsubscribe

    def _set_state(self, state: SessionState) -> None:
        if state is SessionState.SIGNED_IN:
            self._signed_in.set()
        else:
            self._signed_in.clear()
        if state is self._state:
            return
        log.debug("%ssession: %s -> %s", prefix(), self._state.name, state.name)
        self._state = state
        for listener in list(self._state_listeners):
            listener(state)

    def _progress(self, step: SignInStep, url: str | None = None) -> None:
        log.debug("%sstep %s", prefix(), step.name)
        for listener in list(self._progress_listeners):
            listener(SignInProgress(step, url))

    @property
    def lifetime(self) -> SessionLifetime | None:
        """How long the current session lasts (None when not signed in), from the tokens the
        EHR returned: kept (a refresh token in the keyring), renewable, or ending at a time."""
        tokens = self._tokens.current
        if tokens is None or self._state is not SessionState.SIGNED_IN:
            return None
        if tokens.refresh_token is None:
            return SessionLifetime(SessionKeeping.ENDS, tokens.expires_at)
        keeping = SessionKeeping.KEPT if self._kept else SessionKeeping.RENEWABLE
        return SessionLifetime(keeping, None)

    async def wait_until_signed_in(self) -> None:
        """Returns at once when signed in, else when the next sign-in succeeds."""
        await self._signed_in.wait()

    # ------------------------------------------------------------------ discovery
    async def discover(self) -> SmartConfiguration:
        if self._ehr_ready is not None:
            await self._ehr_ready()
        config = await discover(self._http, self.site.fhir_base)
        self.configuration = config
        self._endpoint = TokenEndpoint(self._http, config, self.site.client_id, clock=self._clock)
        return config

    def requested_scopes(self, config: SmartConfiguration) -> tuple[str, ...]:
        if self.site.scopes is not None:
            return self.site.scopes
        return requested_scopes(config, self.features)

    # ------------------------------------------------------------------ sign in
    @tagged("sign-in")
    async def sign_in(self) -> SignedInUser | None:
        """Interactive sign-in through the browser. Raises a ``SmartError`` subclass."""
        if self._state is SessionState.SIGNING_IN:
            raise AuthorizationError("A sign-in is already in progress.")
        previous = self._state
        self._set_state(SessionState.SIGNING_IN)
        self._cancel_requested = False
        self._sign_in_task = asyncio.current_task()
        try:
            await self._sign_in()
        except asyncio.CancelledError:
            self._set_state(previous)
            task = asyncio.current_task()
            if self._cancel_requested and task is not None and task.uncancel() == 0:
                self.last_error = SignInCancelled()
                raise self.last_error from None
            raise
        except SmartError as exc:
            log.debug("%sfailed: %s", prefix(), type(exc).__name__)
            self.last_error = exc
            self._set_state(previous)
            raise
        except Exception:
            self._set_state(previous)  # a bug or an unexpected library error: never stuck
            raise
        finally:
            self._sign_in_task = None
        self.last_error = None
        self._set_state(SessionState.SIGNED_IN)
        self._progress(SignInStep.DONE)
        return self.user

    def cancel_sign_in(self) -> None:
        """The Cancel button: ``sign_in`` raises ``SignInCancelled`` soon after."""
        if self._state is not SessionState.SIGNING_IN:
            return
        self._cancel_requested = True
        if self._receiver is not None:
            self._receiver.cancel()
        elif self._sign_in_task is not None:
            self._sign_in_task.cancel()

    async def _sign_in(self) -> None:
        self._progress(SignInStep.DISCOVERING)
        config = await self.discover()
        assert self._endpoint is not None
        scopes = self.requested_scopes(config)
        receiver = self._receiver_factory(self.site.redirect_path)
        self._receiver = receiver
        try:
            redirect_uri = await receiver.start()
            request = build_authorization_request(
                config,
                client_id=self.site.client_id,
                redirect_uri=redirect_uri,
                scopes=scopes,
                use_nonce=self._use_nonce,
            )
            self._progress(SignInStep.WAITING_FOR_BROWSER, request.url)
            if self._cancel_requested:
                receiver.cancel()
            # the browser may only report back after the redirect: wait for both at once
            opening = asyncio.create_task(self._open_browser(request.url))
            try:
                callback = await receiver.wait_for_callback(self._timeout)
            finally:
                opening.cancel()
            self._receiver = None
            try:
                code = code_from_callback(request, callback.params, expected_issuer=config.issuer)
                self._progress(SignInStep.EXCHANGING_CODE)
                tokens = await self._endpoint.exchange_code(
                    code, request.redirect_uri, request.pkce.verifier
                )
                self._progress(SignInStep.VERIFYING_IDENTITY)
                await self._accept(tokens, scopes, nonce=request.nonce)
            except SmartError as exc:
                callback.finish(ResultPage.failed(exc.message))
                raise
            except BaseException:
                callback.finish(ResultPage.failed("The sign-in was interrupted."))
                raise
            callback.finish(ResultPage.signed_in())
        finally:
            self._receiver = None
            await receiver.aclose()

    async def _open_browser(self, url: str) -> None:
        try:
            await self._browser.open(url)
        except BrowserError:
            self._progress(SignInStep.BROWSER_NOT_OPENED, url)

    async def _accept(
        self, tokens: TokenSet, requested: tuple[str, ...], *, nonce: str | None
    ) -> None:
        """Take a fresh token response: identity, context, scope report, keyring."""
        assert self.configuration is not None
        self._tokens.set(tokens)
        try:
            user = await self._identify(tokens, nonce=nonce, known=None)
        except BaseException:
            self._tokens.clear()
            raise
        self.user = user
        self.context = LaunchContext(tokens.patient, tokens.encounter)
        self.scope_report = compare(requested, tokens.scope, self.features)
        await self._persist(tokens)

    async def _identify(
        self, tokens: TokenSet, *, nonce: str | None, known: StoredSession | None
    ) -> SignedInUser | None:
        assert self.configuration is not None
        if tokens.id_token is None:
            if known is None:
                return None
            ref = (
                resolve_fhir_user(known.fhir_user, self.site.fhir_base) if known.fhir_user else None
            )
            return SignedInUser(known.subject, ref, known.display_name or _fallback_name(ref))
        claims = await verify_id_token(
            self._http,
            self.configuration,
            tokens.id_token,
            client_id=self.site.client_id,
            nonce=nonce,
            now=self._clock().timestamp(),
        )
        fhir_user = claims.get("fhirUser")
        ref = (
            resolve_fhir_user(fhir_user, self.site.fhir_base)
            if isinstance(fhir_user, str)
            else None
        )
        name = await read_display_name(self._http, self.auth, ref) if ref is not None else None
        if name is None and isinstance(claims.get("name"), str):
            name = claims["name"]
        subject = claims.get("sub")
        return SignedInUser(
            subject if isinstance(subject, str) else None, ref, name or _fallback_name(ref)
        )

    async def _persist(self, tokens: TokenSet) -> None:
        self._kept = False
        if tokens.refresh_token is None:
            # nothing to keep (an earlier session's entry would only fail at the next start):
            # a new sign-in is needed when this session ends
            await self._forget_stored()
            return
        user = self.user
        stored = StoredSession(
            user_key=user.key if user is not None else "default",
            refresh_token=tokens.refresh_token,
            fhir_user=user.fhir_user.url if user is not None and user.fhir_user else None,
            subject=user.subject if user is not None else None,
            display_name=user.display_name if user is not None else None,
        )
        try:
            await asyncio.to_thread(self._store.save, stored)
        except KeyringError as exc:
            log.warning("refresh token not saved: %s", exc.detail)
            self._warn(exc.message)
            return
        self._kept = True

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # ------------------------------------------------------------------ refresh
    async def refresh(self, current: TokenSet) -> TokenSet:
        """``Refresher`` for the token manager (single-flight is the manager's job)."""
        if self._endpoint is None:
            await self.discover()
        assert self._endpoint is not None
        return await self._endpoint.refresh(current)

    async def renew_if_due(self) -> bool:
        """Renew the access token if it has expired or is about to (single-flight with any
        request's own refresh). True when it was renewed. ``SignInRequired`` when the EHR
        refused (the state is SIGN_IN_REQUIRED then: the lock's prompt); ``NetworkError``
        when the EHR did not answer and the token has expired."""
        before = self._tokens.current
        await self._tokens.access_token()
        return self._tokens.current is not before

    async def refresh_now(self) -> None:
        """Refresh the tokens now (for example before a long batch of writes)."""
        await self._tokens.refresh_now()

    async def _tokens_changed(self, old: TokenSet, new: TokenSet) -> None:
        if new.refresh_token is not None and new.refresh_token != old.refresh_token:
            await self._persist(new)  # saved before the new set replaces the old in memory

    async def _refresh_impossible(self, exc: SignInRequired) -> None:
        log.info("session cannot be refreshed: %s", exc.detail)
        self.last_error = exc
        self._set_state(SessionState.SIGN_IN_REQUIRED)
        await self._forget_stored()

    async def _forget_stored(self) -> None:
        key = self.user.key if self.user is not None else None
        try:
            if key is None:
                stored = await asyncio.to_thread(self._store.load)
                key = stored.user_key if stored is not None else None
            if key is not None:
                await asyncio.to_thread(self._store.delete, key)
        except KeyringError as exc:
            log.warning("keyring entry not deleted: %s", exc.detail)
            self._warn(exc.message)

    # ------------------------------------------------------------------ restore
    async def has_kept_session(self) -> bool:
        """Whether a session of this site is kept in the keyring (nothing is sent anywhere).
        False when the keyring cannot be read: there is nothing to continue then either."""
        try:
            return await asyncio.to_thread(self._store.load) is not None
        except KeyringError as exc:
            log.warning("keyring not readable: %s", exc.detail)
            return False

    @tagged("session restore")
    async def restore(self) -> bool:
        """At start-up: continue the last session from the keyring. True when signed in.

        False when there is nothing stored (SIGNED_OUT) or the stored session has ended
        (SIGN_IN_REQUIRED). Raises ``NetworkError`` when the EHR is unreachable (the stored
        session is kept for the next try) and ``KeyringError`` when the keyring is unusable.
        """
        if self._state is SessionState.SIGNED_IN:
            return True
        stored = await asyncio.to_thread(self._store.load)
        if stored is None:
            log.debug("%sno session kept in the keyring", prefix())
            return False
        config = await self.discover()
        assert self._endpoint is not None
        placeholder = TokenSet(
            access_token="-",
            token_type="Bearer",
            issued_at=self._clock(),
            expires_at=self._clock(),
            scope=None,
            refresh_token=stored.refresh_token,
        )
        try:
            tokens = await self._endpoint.refresh(placeholder)
        except SignInRequired as exc:
            log.debug("%sthe kept session has ended: %s", prefix(), type(exc).__name__)
            self.last_error = exc
            with contextlib.suppress(KeyringError):
                await asyncio.to_thread(self._store.delete, stored.user_key)
            self._set_state(SessionState.SIGN_IN_REQUIRED)
            return False
        self._tokens.set(tokens)
        try:
            self.user = await self._identify(tokens, nonce=None, known=stored)
        except SmartError:
            self._tokens.clear()
            raise
        self.context = LaunchContext(tokens.patient, tokens.encounter)
        requested = self.requested_scopes(config)
        self.scope_report = compare(requested, tokens.scope, self.features)
        await self._persist(tokens)
        self._set_state(SessionState.SIGNED_IN)
        return True

    def work_offline(self, user: SignedInUser) -> None:
        """Started while the EHR cannot be reached, unlocked locally (the caller checked the
        app PIN and the site's window): who works, and no tokens — nothing is sent until the
        session is renewed (``restore``), which ``wait_until_signed_in`` waits for."""
        if self._state is SessionState.SIGNED_IN:
            return
        self.user = user
        self.context = LaunchContext()
        self._set_state(SessionState.WORKING_OFFLINE)

    # ------------------------------------------------------------------ sign out
    async def sign_out(self) -> bool:
        """Revoke (when the EHR has a revocation endpoint), delete the keyring entry, forget
        everything in memory. True when the EHR confirmed the revocation."""
        self.cancel_sign_in()
        tokens = await self._tokens.discard()
        revoked = False
        if tokens is not None and self._endpoint is not None:
            if tokens.refresh_token is not None:
                revoked = await self._endpoint.revoke(tokens.refresh_token, "refresh_token")
            access_revoked = await self._endpoint.revoke(tokens.access_token, "access_token")
            revoked = revoked or (tokens.refresh_token is None and access_revoked)
        await self._forget_stored()
        self.user = None
        self.context = LaunchContext()
        self.scope_report = None
        self.last_error = None
        self._set_state(SessionState.SIGNED_OUT)
        return revoked

    async def aclose(self) -> None:
        self.cancel_sign_in()
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            await receiver.aclose()


def _fallback_name(ref: FhirUserRef | None) -> str:
    if ref is not None:
        return ref.reference
    return "(name not provided by the EHR)"

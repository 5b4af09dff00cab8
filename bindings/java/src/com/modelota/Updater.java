package com.modelota;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The in-process updater (the C API's {@code ota_updater_*}, docs/app-integration.md "Java and
 * Kotlin"): the whole update lifecycle of ModelOTA inside the app's process, for Android, where no
 * daemon runs. Open one per process and state folder.
 *
 * <p>Threading: every method may be called from any thread. Updates never run two at once (a
 * second one waits for the first). {@link #cancel} never blocks. {@link #close} cancels a running
 * update, waits for the calls under way to return, closes the leases still open and frees the
 * native updater; calls after it throw {@link IllegalStateException}. A {@link ProgressListener}
 * may call {@link #cancel}, {@link #setConditions}, {@link #reportSession} and {@code
 * getModel(model, LOCAL_ONLY)}; the calls that would wait for the running update (check, update,
 * getModel with another policy, awaitBackground, close) throw {@link IllegalStateException} there.
 *
 * <p>Errors: {@link ModelOtaException} with the C API's status name; null arguments throw {@link
 * NullPointerException}, strings with a NUL character {@link IllegalArgumentException}.
 */
public final class Updater implements AutoCloseable {
  static {
    System.loadLibrary("modelota_jni");
  }

  // Calls hold the read lock, close the write lock: the handle is never freed under a call.
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private long handle; // ota_updater*; 0 once closed. Guarded by lock.
  private final Set<Lease> leases = new HashSet<>(); // Open leases. Guarded by itself.
  private final ThreadLocal<Boolean> inListener = ThreadLocal.withInitial(() -> false);

  private Updater(long handle) {
    this.handle = handle;
  }

  /**
   * Opens the updater: the first open of a state folder enrolls it with the config's server,
   * later ones finish or undo what a killed process left under way.
   *
   * @throws ModelOtaException "invalid-argument" for a config it cannot use (e.g. a new state
   *     folder without server URL, trusted root or models), "integrity" for a root not signed by
   *     its own threshold, "retry-later" when enrollment cannot reach the server
   */
  public static Updater open(Config config) throws ModelOtaException {
    if (config == null) throw new NullPointerException("config must not be null");
    if (config.stateDir == null) throw new NullPointerException("config.stateDir must not be null");
    return new Updater(
        nativeOpen(
            config.stateDir,
            config.serverUrl,
            config.trustedRootFile,
            config.models,
            config.enrollmentToken,
            config.caBundleFile,
            config.appVersion,
            config.deviceFactsJson,
            config.downloadPolicyJson,
            config.confirmSessions,
            config.confirmWindowSeconds,
            config.drainPolicy,
            config.drainDeadlineMs));
  }

  /**
   * Refreshes the signed metadata and says what an update would do, downloading nothing else: a
   * JSON array with one object per model, as {@code ota-agent check --json} prints it.
   */
  public String check() throws ModelOtaException {
    long h = enter(true);
    try {
      return nativeCheck(h);
    } finally {
      exit();
    }
  }

  /**
   * One update cycle of every model: resumes what is under way, then installs what the rollout
   * offers as far as the download conditions allow. Returns the per-model outcomes, JSON as
   * {@code ota-agent update --json} prints them ("updated", "up-to-date", "confirming",
   * "deferred" with the reason in "error", ...).
   *
   * @param listener called on this thread while downloading; may be null
   * @throws ModelOtaException "cancelled" when {@link #cancel} stopped it (what was fetched is
   *     kept for the next call; {@link ModelOtaException#outcomes} has the cycle's outcomes)
   */
  public String update(ProgressListener listener) throws ModelOtaException {
    long h = enter(true);
    inListener.set(true);
    try {
      return nativeUpdate(h, listener);
    } finally {
      inListener.set(false);
      exit();
    }
  }

  /** Asks the running update (foreground or background) to stop. Never blocks; any thread. */
  public void cancel() {
    if (!lock.readLock().tryLock()) return; // close holds it, and has cancelled already.
    try {
      if (handle != 0) nativeCancel(handle);
    } finally {
      lock.readLock().unlock();
    }
  }

  /**
   * What the platform reports about the device now (docs/formats.md "Device conditions"), e.g.
   * {@code {"network": "metered", "charging": false, "battery_percent": 64}}. A running download
   * sees the change within a second. Before the first call every condition counts as met.
   */
  public void setConditions(String conditionsJson) throws ModelOtaException {
    if (conditionsJson == null) throw new NullPointerException("conditionsJson must not be null");
    long h = enter(false);
    try {
      nativeSetConditions(h, conditionsJson);
    } finally {
      exit();
    }
  }

  /**
   * Leases the model's active version under {@code policy}. Close the lease when the session
   * ends.
   *
   * @throws ModelOtaException "not-found" when nothing is installed (LOCAL_ONLY) or nothing could
   *     be, with the update's own failure; "retry-later" while the model switches versions
   */
  public Lease getModel(String model, ModelPolicy policy) throws ModelOtaException {
    if (model == null) throw new NullPointerException("model must not be null");
    if (policy == null) throw new NullPointerException("policy must not be null");
    long h = enter(policy != ModelPolicy.LOCAL_ONLY);
    try {
      Lease lease = new Lease(this, nativeGetModel(h, model, policy.code));
      synchronized (leases) {
        leases.add(lease);
      }
      return lease;
    } finally {
      exit();
    }
  }

  /**
   * Waits for the background update getModel(LOCAL_THEN_BACKGROUND) started, and returns its
   * result once: its per-model outcomes (JSON, as {@link #update} returns them), or null when no
   * background update ended since the last call.
   *
   * @throws ModelOtaException the status and message the background update failed with
   */
  public String awaitBackground() throws ModelOtaException {
    long h = enter(true);
    try {
      return nativeWait(h);
    } finally {
      exit();
    }
  }

  /**
   * Records how a session on a version went, for the confirmation of a new version.
   *
   * @param versionId {@link Lease#versionId} of the lease the session used
   * @param message why it failed (cut to 4096 bytes); may be null
   */
  public void reportSession(String versionId, boolean ok, String message)
      throws ModelOtaException {
    if (versionId == null) throw new NullPointerException("versionId must not be null");
    long h = enter(false);
    try {
      nativeReportSession(h, versionId, ok, message);
    } finally {
      exit();
    }
  }

  /**
   * Cancels a running update, waits for the calls under way, releases the leases still open and
   * closes the native updater (leaving the marker that tells the next open this was no crash).
   * Closing twice is harmless.
   */
  @Override
  public void close() {
    if (lock.getReadHoldCount() > 0) {
      throw new IllegalStateException("close() called inside a call on this updater");
    }
    cancel();
    lock.writeLock().lock();
    try {
      if (handle == 0) return;
      List<Lease> open;
      synchronized (leases) {
        open = new ArrayList<>(leases);
        leases.clear();
      }
      for (Lease lease : open) lease.releaseNative();
      nativeClose(handle);
      handle = 0;
    } finally {
      lock.writeLock().unlock();
    }
  }

  void forget(Lease lease) {
    synchronized (leases) {
      leases.remove(lease);
    }
  }

  // Takes the read lock for a call; `waitsForUpdate`: the call would wait for a running update,
  // which deadlocks inside that update's progress listener.
  private long enter(boolean waitsForUpdate) {
    if (waitsForUpdate && inListener.get()) {
      throw new IllegalStateException(
          "this call waits for the running update: not from inside its progress listener");
    }
    lock.readLock().lock();
    if (handle == 0) {
      lock.readLock().unlock();
      throw new IllegalStateException("the updater is closed");
    }
    return handle;
  }

  private void exit() {
    lock.readLock().unlock();
  }

  private static native long nativeOpen(
      String stateDir,
      String serverUrl,
      String trustedRootFile,
      String[] models,
      String enrollmentToken,
      String caBundleFile,
      String appVersion,
      String deviceFactsJson,
      String downloadPolicyJson,
      int confirmSessions,
      long confirmWindowSeconds,
      String drainPolicy,
      long drainDeadlineMs)
      throws ModelOtaException;

  private static native void nativeClose(long updater);

  private static native String nativeCheck(long updater) throws ModelOtaException;

  private static native String nativeUpdate(long updater, ProgressListener listener)
      throws ModelOtaException;

  private static native void nativeCancel(long updater);

  private static native void nativeSetConditions(long updater, String json)
      throws ModelOtaException;

  private static native long nativeGetModel(long updater, String model, int policy)
      throws ModelOtaException;

  private static native String nativeWait(long updater) throws ModelOtaException;

  private static native void nativeReportSession(
      long updater, String versionId, boolean ok, String message) throws ModelOtaException;
}

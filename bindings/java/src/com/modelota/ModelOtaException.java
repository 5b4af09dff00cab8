package com.modelota;

/**
 * A failure of the updater: the C API's status name and the one-line message of {@code
 * ota_last_error()}. It is checked, since every call can fail for reasons the app has to handle
 * (no network, a cancel, a switch in progress).
 *
 * <p>Status names ({@code ota_status_name}): "invalid-argument" (a bad config, model name or
 * JSON), "not-found" (nothing installed, no such state folder), "retry-later" (the model is
 * switching versions, or the network failed), "io", "integrity", "internal", "cancelled" ({@link
 * Updater#cancel} stopped the call; the next update resumes).
 */
public final class ModelOtaException extends Exception {
  private static final long serialVersionUID = 1L;

  private final String status;
  private final String outcomes;

  /** Made by the native library; {@code outcomes} may be null. */
  public ModelOtaException(String status, String message, String outcomes) {
    super(status + ": " + message);
    this.status = status;
    this.outcomes = outcomes;
  }

  /** The status name, e.g. "cancelled" or "not-found". */
  public String status() {
    return status;
  }

  /**
   * For a cancelled {@link Updater#update}: the per-model outcomes of the stopped cycle (JSON, as
   * {@code update} returns them, with {@code "bytes_fetched"} so far); null otherwise.
   */
  public String outcomes() {
    return outcomes;
  }
}

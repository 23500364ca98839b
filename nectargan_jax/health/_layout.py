"""The columns of ``HealthChecks``' state arrays, shared by the checks and the report."""

# Columns of ``per_loss`` (int32) and ``per_loss_epoch`` (float32).
NON_FINITE_COUNT, NON_FINITE_STEP, CLAMPED_COUNT, CLAMPED_STEP = range(4)
NON_FINITE_EPOCH, CLAMPED_EPOCH = range(2)
# Entries of ``pair`` (int32): the collapse run and the window's collapse events.
RUN, COLLAPSED_COUNT, COLLAPSED_STEP, COLLAPSES_STARTED = range(4)

//! Relief valve control for the pump hall.

/// Pressure (bar) at which the relief valve opens. It sits above the pumps' 12 bar
/// maximum operating pressure so that normal operation never lifts the valve.
pub const RELIEF_VALVE_SETPOINT_BAR: f64 = 13.5;

/// Returns true when the measured discharge pressure must open the relief valve.
pub fn must_open(pressure_bar: f64) -> bool {
    pressure_bar >= RELIEF_VALVE_SETPOINT_BAR
}

#[cfg(test)]
mod tests {
    #[test]
    fn opens_above_setpoint() {
        assert!(super::must_open(14.0));
        assert!(!super::must_open(12.0));
    }
}

package features

import "context"

// The typed methods below are one-liners over Feature and Update, which
// hold the validation and the transport.

// Power reads the power state: "ON" or "OFF".
func (c *Client) Power(ctx context.Context, endpointID string) (string, error) {
	return read(ctx, c, endpointID, FeaturePower, (*FeatureResponse).Power)
}

// Brightness reads the brightness, 0..100.
func (c *Client) Brightness(ctx context.Context, endpointID string) (int, error) {
	return read(ctx, c, endpointID, FeatureBrightness, (*FeatureResponse).Brightness)
}

// Color reads the color.
func (c *Client) Color(ctx context.Context, endpointID string) (Color, error) {
	return read(ctx, c, endpointID, FeatureColor, (*FeatureResponse).Color)
}

// ColorTemperature reads the color temperature in kelvin.
func (c *Client) ColorTemperature(ctx context.Context, endpointID string) (int, error) {
	return read(ctx, c, endpointID, FeatureColorTemperature, (*FeatureResponse).ColorTemperature)
}

// Connectivity reads the reachability: "OK", "UNREACHABLE" or "NOT_FOUND".
func (c *Client) Connectivity(ctx context.Context, endpointID string) (string, error) {
	return read(ctx, c, endpointID, FeatureConnectivity, (*FeatureResponse).Connectivity)
}

// Speaker reads the volume (and muting, if reported).
func (c *Client) Speaker(ctx context.Context, endpointID string) (Speaker, error) {
	return read(ctx, c, endpointID, FeatureSpeaker, (*FeatureResponse).Speaker)
}

// Temperature reads the temperature sensor, in the scale the device reports.
func (c *Client) Temperature(ctx context.Context, endpointID string) (Temperature, error) {
	return read(ctx, c, endpointID, FeatureTemperatureSensor, func(r *FeatureResponse) (Temperature, error) {
		return r.Temperature(c.scale)
	})
}

// Thermostat reads the thermostat mode, setpoints and supported modes.
func (c *Client) Thermostat(ctx context.Context, endpointID string) (Thermostat, error) {
	return read(ctx, c, endpointID, FeatureThermostat, func(r *FeatureResponse) (Thermostat, error) {
		return r.Thermostat(c.scale)
	})
}

// Bluetooth reads the bluetooth feature.
func (c *Client) Bluetooth(ctx context.Context, endpointID string) (Bluetooth, error) {
	return read(ctx, c, endpointID, FeatureBluetooth, (*FeatureResponse).Bluetooth)
}

func read[T any](ctx context.Context, c *Client, endpointID, feature string, decode func(*FeatureResponse) (T, error)) (T, error) {
	r, err := c.Feature(ctx, endpointID, feature)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode(r)
}

// TurnOn powers the endpoint on.
func (c *Client) TurnOn(ctx context.Context, endpointID string) error {
	return c.Update(ctx, endpointID, "turnOn")
}

// TurnOff powers the endpoint off.
func (c *Client) TurnOff(ctx context.Context, endpointID string) error {
	return c.Update(ctx, endpointID, "turnOff")
}

// SetBrightness sets the brightness, 0..100.
func (c *Client) SetBrightness(ctx context.Context, endpointID string, pct int) error {
	return c.Update(ctx, endpointID, "setBrightness", float64(pct))
}

// AdjustBrightness changes the brightness by -100..100.
func (c *Client) AdjustBrightness(ctx context.Context, endpointID string, delta int) error {
	return c.Update(ctx, endpointID, "adjustBrightness", float64(delta))
}

// SetColor sets the color: hue a whole number 0..360, saturation and
// brightness 0..1.
func (c *Client) SetColor(ctx context.Context, endpointID string, col Color) error {
	return c.Update(ctx, endpointID, "setColor", col.Hue, col.Saturation, col.Brightness)
}

// SetColorTemperature sets the color temperature, 1000..10000 kelvin.
func (c *Client) SetColorTemperature(ctx context.Context, endpointID string, kelvin int) error {
	return c.Update(ctx, endpointID, "setColorTemperature", float64(kelvin))
}

// IncreaseColorTemperature makes the light cooler by a step the maker chooses.
func (c *Client) IncreaseColorTemperature(ctx context.Context, endpointID string) error {
	return c.Update(ctx, endpointID, "increaseColorTemperature")
}

// DecreaseColorTemperature makes the light warmer by a step the maker chooses.
func (c *Client) DecreaseColorTemperature(ctx context.Context, endpointID string) error {
	return c.Update(ctx, endpointID, "decreaseColorTemperature")
}

// SetVolume sets the speaker volume, 0..100.
func (c *Client) SetVolume(ctx context.Context, endpointID string, volume int) error {
	return c.Update(ctx, endpointID, "setVolume", float64(volume))
}

// AdjustVolume changes the speaker volume by -100..100.
func (c *Client) AdjustVolume(ctx context.Context, endpointID string, delta int) error {
	return c.Update(ctx, endpointID, "adjustVolume", float64(delta))
}

// UnpairBluetooth unpairs every Bluetooth device from the endpoint.
func (c *Client) UnpairBluetooth(ctx context.Context, endpointID string) error {
	return c.Update(ctx, endpointID, "unpair")
}

package sim

import "encoding/json"

// DemoHousehold returns a believable household for `alexarules demo` and
// for tests: a bedroom, a living room and a kitchen with their lights,
// plug, sensor, thermostat and speaker, an Echo in each room (Europe/Berlin),
// the Shopping and To-Do lists, and a weekday alarm on the Bedroom Echo.
// The lights, plug and sensor are also the household's smart-home devices
// (same names, so one rule works on either backend), with a Living Room
// group. Ids are fixed so examples and tests can name them.
func DemoHousehold() Household {
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	flt := func(f float64) *float64 { return &f }
	ok := func() *string { return str("OK") }
	return Household{
		Endpoints: []Endpoint{
			{
				ID:   "amzn1.alexa.endpoint.3f9d2c1e-8a4b-4c7d-9e21-5b6a7c8d0e11",
				Name: "Bedroom Lamp",
				Features: Features{
					Power:            str("OFF"),
					Brightness:       num(40),
					Color:            &Color{Hue: 30, Saturation: 0.6, Brightness: 0.4},
					ColorTemperature: num(2700),
					Connectivity:     ok(),
				},
			},
			{
				ID:   "amzn1.alexa.endpoint.7a1b3c5d-2e4f-4a6b-8c9d-0e1f2a3b4c22",
				Name: "Living Room Lamp",
				Features: Features{
					Power:        str("ON"),
					Brightness:   num(70),
					Connectivity: ok(),
				},
			},
			{
				ID:   "amzn1.alexa.endpoint.c4d5e6f7-0819-4a2b-b3c4-d5e6f7a8b933",
				Name: "Living Room Fan",
				Features: Features{
					Power:        str("OFF"),
					Connectivity: ok(),
				},
			},
			{
				ID:   "amzn1.alexa.endpoint.1e2d3c4b-5a69-4788-a9b0-c1d2e3f4a544",
				Name: "Living Room Sensor",
				Features: Features{
					Temperature:  flt(22.5),
					Connectivity: ok(),
				},
			},
			{
				ID:   "amzn1.alexa.endpoint.9b8a7c6d-5e4f-4321-8fed-cba987654355",
				Name: "Living Room Thermostat",
				Features: Features{
					Temperature:    flt(21.0),
					ThermostatMode: str("HEAT"),
					TargetSetpoint: flt(21.5),
					Connectivity:   ok(),
				},
			},
			{
				ID:   "amzn1.alexa.endpoint.5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d66",
				Name: "Living Room Speaker",
				Features: Features{
					Volume: num(30),
					Muted:  new(bool),
					Bluetooth: &Bluetooth{PairedDevices: []BluetoothDevice{
						{Address: "5C:F3:70:8B:12:4E", Name: "Anna's Phone"},
					}},
					Connectivity: ok(),
				},
			},
			{
				ID:   "amzn1.alexa.endpoint.e0f1a2b3-c4d5-4e6f-a7b8-c9d0e1f2a377",
				Name: "Kitchen Light",
				Features: Features{
					Power:        str("OFF"),
					Brightness:   num(100),
					Connectivity: ok(),
				},
			},
		},
		Echos: []Echo{
			{Serial: "G090LF1182340B7K", Type: "A32DOYMUN6DTXA", Name: "Bedroom Echo", Timezone: "Europe/Berlin"},
			{Serial: "G6G0XW0412650C3M", Type: "A4ZP7ZC4PI6TO", Name: "Kitchen Echo", Timezone: "Europe/Berlin"},
			{Serial: "G2A0V7048274078P", Type: "A3S5BH2HU6VAYF", Name: "Living Room Echo", Timezone: "Europe/Berlin"},
		},
		Lists: []List{
			{
				ID:   "amzn1.alexa.list.sim-shopping",
				Name: "Shopping",
				Items: []ListItem{
					{ID: "sim-item-milk", Text: "milk"},
					{ID: "sim-item-coffee", Text: "coffee beans"},
					{ID: "sim-item-bread", Text: "bread"},
				},
			},
			{
				ID:   "amzn1.alexa.list.sim-todo",
				Name: "To-Do",
				Items: []ListItem{
					{ID: "sim-item-plants", Text: "water the plants"},
					{ID: "sim-item-dentist", Text: "call the dentist", Completed: true},
					{ID: "sim-item-bins", Text: "take out the bins"},
				},
			},
		},
		Notifications: []json.RawMessage{json.RawMessage(`{` +
			`"id":"A32DOYMUN6DTXA-G090LF1182340B7K-9c1f6a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",` +
			`"notificationIndex":"9c1f6a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",` +
			`"type":"Alarm","status":"ON","version":"1",` +
			`"deviceSerialNumber":"G090LF1182340B7K","deviceType":"A32DOYMUN6DTXA",` +
			`"originalDate":"2026-01-05","originalTime":"07:00:00.000",` +
			`"recurringPattern":"XXXX-WD","alarmLabel":null,"timeZoneId":null}`)},
		SmartHome: demoSmartHome(),
		Groups: []Group{{ID: "b41c7f0e-92d3-4a6b-8e15-3c7d9f2a6b01", Name: "Living Room", Members: []string{
			"6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a02", "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a03",
		}}},
	}
}

// demoSmartHome are the demo's smart-home devices.
func demoSmartHome() []SmartHomeDevice {
	return []SmartHomeDevice{
		{ID: "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a01", Name: "Bedroom Lamp", Aliases: []string{}, Type: "LIGHT", State: Features{
			Power: new("OFF"), Brightness: new(40), Color: &Color{Hue: 30, Saturation: 0.6, Brightness: 0.4},
			ColorTemperature: new(2700), Connectivity: new("OK"),
		}},
		{ID: "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a02", Name: "Living Room Lamp", Aliases: []string{}, Type: "LIGHT", State: Features{
			Power: new("ON"), Brightness: new(70), Connectivity: new("OK"),
		}},
		{ID: "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a03", Name: "Living Room Fan", Aliases: []string{}, Type: "PLUG", State: Features{
			Power: new("OFF"), Connectivity: new("OK"),
		}},
		{ID: "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a04", Name: "Living Room Sensor", Aliases: []string{}, Type: "TEMPERATURE_SENSOR", State: Features{
			Temperature: new(22.5), Connectivity: new("OK"),
		}},
		// Renamed in the Alexa app: the alias is the name users see.
		{ID: "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a05", Name: "Hue white lamp 1", Aliases: []string{"Kitchen Light"}, Type: "LIGHT", State: Features{
			Power: new("OFF"), Brightness: new(100), Connectivity: new("OK"),
		}},
	}
}

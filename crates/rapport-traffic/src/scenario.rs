//! A seeded model of one business day: customers, agents and the conversations between them,
//! each conversation on the source the mix picked for it. Rendering to native payloads happens
//! in `render/`; this file only decides what happens when.

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rapport_model::{Channel, Source, Timestamp};

use crate::mix::Mix;

const FIRST_NAMES: &[&str] = &[
    "Maria",
    "James",
    "Aiko",
    "Oluwaseun",
    "Chen",
    "Fatima",
    "Lukas",
    "Sofia",
    "Mateo",
    "Priya",
    "Noah",
    "Amara",
    "Elif",
    "Jonas",
    "Camille",
    "Diego",
    "Hana",
    "Ravi",
    "Zoe",
    "Malik",
];
const LAST_NAMES: &[&str] = &[
    "Lopez",
    "Smith",
    "Tanaka",
    "Adeyemi",
    "Wei",
    "Haddad",
    "Schmidt",
    "Rossi",
    "Garcia",
    "Patel",
    "Brown",
    "Okafor",
    "Yilmaz",
    "Berg",
    "Dubois",
    "Fernandez",
    "Kim",
    "Iyer",
    "Martin",
    "Johnson",
];
const MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "proton.me",
    "fastmail.com",
    "example.org",
];
const TOPICS: &[(&str, &str)] = &[
    (
        "Order #{n} has not arrived",
        "Hi, my order #{n} was due on Monday and tracking has not moved since. Can you check?",
    ),
    (
        "Refund for order #{n}",
        "Hello, I returned order #{n} two weeks ago and have not seen the refund yet.",
    ),
    (
        "Cannot log in",
        "I reset my password twice but the login page keeps saying the link expired.",
    ),
    (
        "Wrong size delivered",
        "I ordered a medium and received a large. How do I exchange it?",
    ),
    (
        "Invoice needed",
        "Could you send me a VAT invoice for my last purchase? Our company details are below.",
    ),
    (
        "Change delivery address",
        "I moved last week. Can you change the delivery address on my open order #{n}?",
    ),
];
const AGENT_REPLIES: &[&str] = &[
    "Thanks for reaching out! I have looked into this and fixed it on our side. Let me know if anything else comes up.",
    "Sorry about that. I have escalated it to our warehouse team and you will hear back within a day.",
    "I have issued the refund; it should show on your statement in 3-5 business days.",
    "Done! I updated your account. Could you try again and confirm it works?",
];
const FOLLOW_UPS: &[&str] = &[
    "Thank you, that worked!",
    "Any update on this?",
    "Still not working, sorry.",
    "Great, thanks a lot.",
];
/// Rating, title, text.
const REVIEWS: &[(u8, &str, &str)] = &[
    (
        5,
        "Will order again",
        "Fast delivery and lovely support team. Will order again.",
    ),
    (
        4,
        "Good, a bit slow",
        "Good products, delivery took a bit longer than promised.",
    ),
    (
        2,
        "Slow answers",
        "Support took days to answer my refund question.",
    ),
    (
        1,
        "Lost package",
        "Package lost and nobody replied to my emails.",
    ),
    (
        5,
        "Easy exchange",
        "Exchanged a size without any hassle. Great service!",
    ),
];

/// One customer and the id each source knows them by (derived from the index, so adding a
/// source never changes what the seed draws).
#[derive(Debug, Clone)]
pub struct Customer {
    pub index: usize,
    pub name: String,
    pub email: String,
    pub phone: String,
    /// Intercom's contact id (also the `generic` actor id of the customer).
    pub chat_contact_id: String,
    /// Zendesk's user id (also the `generic` external id).
    pub support_user_id: u64,
    pub chatwoot_contact_id: u64,
    pub freshdesk_contact_id: u64,
    pub yelp_user_id: String,
    pub trustpilot_consumer_id: String,
}

impl Customer {
    /// The account part of the customer's Google profile photo URL
    /// (`https://lh3.googleusercontent.com/a/<token>=s120-c`), the same on every review they
    /// write: the only evidence of who a Google reviewer is.
    pub fn google_photo_token(&self) -> String {
        format!("ACg8ocK{:013}", self.index)
    }
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub id: u64,
    pub name: String,
    pub email: String,
    pub team: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    Customer,
    Agent(usize),
    Bot,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Message {
        author: Author,
        text: String,
    },
    Note {
        agent: usize,
        text: String,
    },
    Status {
        agent: usize,
        status: &'static str,
    },
    Review {
        rating: u8,
        title: String,
        text: String,
    },
    ReviewReply {
        text: String,
    },
}

#[derive(Debug, Clone)]
pub struct Event {
    pub at: Timestamp,
    pub step: Step,
}

#[derive(Debug, Clone)]
pub struct Conversation {
    /// Unique within the scenario; renderers derive source ids from it.
    pub id: u64,
    /// The system the conversation happens in; it renders every event of it.
    pub source: Source,
    pub channel: Channel,
    pub customer: usize,
    pub subject: String,
    pub team: &'static str,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub customers: Vec<Customer>,
    pub agents: Vec<Agent>,
    pub conversations: Vec<Conversation>,
}

pub struct Params<'a> {
    pub customers: usize,
    pub day_start: Timestamp,
    pub agent_domain: String,
    pub mix: &'a Mix,
}

const MINUTE: i64 = 60_000;

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    items.choose(rng).expect("word lists are not empty")
}

/// Delay until an agent answers: mostly minutes, with the long tail real queues have.
fn reply_delay(rng: &mut ChaCha8Rng, channel: Channel) -> i64 {
    let (low, high) = match channel {
        Channel::Chat => (1, 15),
        Channel::Email | Channel::Support => (10, 240),
        Channel::Review => (60, 1_440),
    };
    let minutes = if rng.random_bool(0.1) {
        rng.random_range(high..high * 3)
    } else {
        rng.random_range(low..high)
    };
    minutes * MINUTE + rng.random_range(0..MINUTE)
}

pub fn build(rng: &mut ChaCha8Rng, params: &Params<'_>) -> Scenario {
    let agents: Vec<Agent> = [
        ("Ana Ruiz", "Billing"),
        ("Ben Carter", "Billing"),
        ("Chloe Martin", "Support"),
        ("Dev Shah", "Support"),
        ("Eva Novak", "Support"),
        ("Femi Bello", "Billing"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (name, team))| Agent {
        id: 9_000 + i as u64,
        name: (*name).to_owned(),
        email: format!(
            "{}@{}",
            name.split(' ').next().unwrap_or("agent").to_lowercase(),
            params.agent_domain
        ),
        team,
    })
    .collect();

    let customers: Vec<Customer> = (0..params.customers)
        .map(|index| {
            let first = pick(rng, FIRST_NAMES);
            let last = pick(rng, LAST_NAMES);
            Customer {
                index,
                name: format!("{first} {last}"),
                email: format!(
                    "{}.{}{}@{}",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    index,
                    pick(rng, MAIL_DOMAINS)
                ),
                phone: format!("+1415555{:04}", index % 10_000),
                chat_contact_id: format!("5f{index:06x}a1b2c3d4e5f6"),
                support_user_id: 400_000 + index as u64,
                chatwoot_contact_id: 7_000 + index as u64,
                freshdesk_contact_id: 103_000_000 + index as u64,
                yelp_user_id: format!("yU{index:06}-Qx3bLtpd1nB9A"),
                trustpilot_consumer_id: format!("6657{index:08x}e4b0f5a9c1d2"),
            }
        })
        .collect();

    let mut conversations = Vec::new();
    for customer in &customers {
        let count = rng.random_range(1..=3);
        for _ in 0..count {
            let (source, channel) = params.mix.pick(rng);
            let id = conversations.len() as u64 + 1;
            let start = params.day_start.as_millis()
                + rng.random_range(8 * 60..20 * 60) * MINUTE
                + rng.random_range(0..MINUTE);
            conversations.push(conversation(
                rng,
                Start {
                    id,
                    source,
                    channel,
                    customer: customer.index,
                    at: start,
                },
                &agents,
            ));
        }
    }
    Scenario {
        customers,
        agents,
        conversations,
    }
}

/// Where and when a conversation starts.
struct Start {
    id: u64,
    source: Source,
    channel: Channel,
    customer: usize,
    at: i64,
}

fn conversation(rng: &mut ChaCha8Rng, start: Start, agents: &[Agent]) -> Conversation {
    let Start {
        id,
        source,
        channel,
        customer,
        at: start,
    } = start;
    let order = rng.random_range(10_000..99_999).to_string();
    let (subject, body) = pick(rng, TOPICS);
    let subject = subject.replace("{n}", &order);
    let team = if subject.contains("Refund") || subject.contains("Invoice") {
        "Billing"
    } else {
        "Support"
    };
    let team_members: Vec<usize> = (0..agents.len())
        .filter(|a| agents[*a].team == team)
        .collect();
    let agent = *pick(rng, &team_members);
    let mut at = start;
    let mut events = Vec::new();
    // Whole seconds: most sources send second-precision times (Unix seconds, RFC 2822 dates),
    // so the moment every source reports for an event is the same.
    let mut push = |at: i64, step: Step| {
        events.push(Event {
            at: Timestamp::from_millis(at - at.rem_euclid(1_000)),
            step,
        })
    };

    if channel == Channel::Review {
        let (rating, title, text) = *pick(rng, REVIEWS);
        push(
            at,
            Step::Review {
                rating,
                title: title.to_owned(),
                text: text.to_owned(),
            },
        );
        if rng.random_bool(0.7) {
            at += reply_delay(rng, channel);
            push(
                at,
                Step::ReviewReply {
                    text: "Thank you for your feedback! We have shared it with the team.".into(),
                },
            );
        }
        return Conversation {
            id,
            source,
            channel,
            customer,
            subject: format!("Review {id}"),
            team,
            events,
        };
    }

    push(
        at,
        Step::Message {
            author: Author::Customer,
            text: body.replace("{n}", &order),
        },
    );
    if channel == Channel::Chat && rng.random_bool(0.5) {
        at += rng.random_range(1_000..5_000);
        push(
            at,
            Step::Message {
                author: Author::Bot,
                text: "Thanks! A teammate will be with you shortly.".into(),
            },
        );
    }
    // About one conversation in twelve is left on read: the unanswered view must show it.
    if rng.random_bool(0.08) {
        return Conversation {
            id,
            source,
            channel,
            customer,
            subject,
            team,
            events,
        };
    }
    if channel != Channel::Email && rng.random_bool(0.15) {
        at += rng.random_range(MINUTE..10 * MINUTE);
        push(
            at,
            Step::Note {
                agent,
                text: "Checked the order system; carrier shows a delay.".into(),
            },
        );
    }
    at += reply_delay(rng, channel);
    push(
        at,
        Step::Message {
            author: Author::Agent(agent),
            text: (*pick(rng, AGENT_REPLIES)).to_owned(),
        },
    );
    if rng.random_bool(0.5) {
        at += rng.random_range(2 * MINUTE..90 * MINUTE);
        push(
            at,
            Step::Message {
                author: Author::Customer,
                text: (*pick(rng, FOLLOW_UPS)).to_owned(),
            },
        );
        at += reply_delay(rng, channel);
        push(
            at,
            Step::Message {
                author: Author::Agent(agent),
                text: "You're welcome, have a great day!".into(),
            },
        );
    }
    if channel != Channel::Email {
        at += rng.random_range(MINUTE..30 * MINUTE);
        push(
            at,
            Step::Status {
                agent,
                status: if channel == Channel::Chat {
                    "closed"
                } else {
                    "solved"
                },
            },
        );
        if rng.random_bool(0.1) {
            at += rng.random_range(30 * MINUTE..180 * MINUTE);
            push(
                at,
                Step::Message {
                    author: Author::Customer,
                    text: "Sorry, the problem is back.".into(),
                },
            );
            push(
                at + 1_000,
                Step::Status {
                    agent,
                    status: "open",
                },
            );
            at += reply_delay(rng, channel);
            push(
                at,
                Step::Message {
                    author: Author::Agent(agent),
                    text: (*pick(rng, AGENT_REPLIES)).to_owned(),
                },
            );
            push(
                at + 60_000,
                Step::Status {
                    agent,
                    status: if channel == Channel::Chat {
                        "closed"
                    } else {
                        "solved"
                    },
                },
            );
        }
    }
    Conversation {
        id,
        source,
        channel,
        customer,
        subject,
        team,
        events,
    }
}
